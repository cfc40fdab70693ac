from tests.deps.http_files import file_server

__all__ = ["file_server"]
