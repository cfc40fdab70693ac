"""A client for the distribution v2 registry API: pull, push, mount, auth, retries.

``RegistrySource`` and ``RegistryDestination`` implement the protocols of
``cnbsdk.oci.transport``; ``RegistryClient`` is the HTTP connection they share.
"""

from cnbsdk.oci.registry.auth import Credentials, load_credentials
from cnbsdk.oci.registry.client import RegistryClient, RetryPolicy
from cnbsdk.oci.registry.destination import PushStats, RegistryDestination
from cnbsdk.oci.registry.source import RegistrySource
from cnbsdk.oci.registry.upload import UploadSettings

__all__ = [
    "Credentials",
    "PushStats",
    "RegistryClient",
    "RegistryDestination",
    "RegistrySource",
    "RetryPolicy",
    "UploadSettings",
    "load_credentials",
]
