"""Errors of the management layer, printed PowerShell-style by the CLI and mapped to HTTP by REST."""
from __future__ import annotations


class ManagementError(Exception):
    """A cmdlet/service failure: ``category`` is a PowerShell ErrorCategory name, ``target`` its object.

    Categories used: ObjectNotFound (REST 404), InvalidArgument (400), InvalidOperation (409),
    ResourceExists (409), ConnectionError / ResourceUnavailable (503), NotImplemented (501).
    """

    def __init__(self, message: str, category: str = "InvalidOperation", target: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.category = category
        self.target = target

    def render(self, cmdlet: str) -> str:
        """The error as PowerShell prints it for ``cmdlet`` (message + CategoryInfo line)."""
        tgt = f"({self.target}:String)" if self.target else "(:)"
        return (f"{cmdlet} : {self.message}\n"
                f"    + CategoryInfo          : {self.category}: {tgt} [{cmdlet}], ClusterCmdletException\n"
                f"    + FullyQualifiedErrorId : {self.category},{cmdlet}\n")


HTTP_STATUS = {"ObjectNotFound": 404, "InvalidArgument": 400, "InvalidOperation": 409, "ResourceExists": 409,
               "ConnectionError": 503, "ResourceUnavailable": 503, "NotImplemented": 501}
