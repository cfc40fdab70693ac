"""A plugin with a typo in a hook name: loading it must fail and name the hook."""

from cnbsdk.buildpack import BuildContext, BuildResult, hookimpl


@hookimpl
def buidl(context: BuildContext) -> BuildResult:
    return BuildResult()
