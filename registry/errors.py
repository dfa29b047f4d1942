"""The registry's error hierarchy, grouped by who is at fault.

Every refusal the core makes is one of these classes. Each carries a short
machine-readable ``code`` (used as the problem type on the web and in
``--json`` output) and a one-line human message. The web layer maps classes to
HTTP status codes in one place; the command line prints the message and exits
non-zero.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base class of every error the registry raises on purpose."""

    code = "registry-error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def diagnostics(self) -> str:
        """One line for an operator or a submitter."""
        return f"{self.code}: {self.message}"


# --- the submitter is at fault -------------------------------------------------


class InputError(RegistryError):
    """The submitted bytes or statement cannot be accepted."""

    code = "invalid-input"
    status = 400


class MalformedError(InputError):
    """Not parseable: bad JSON, bad encoding, wrong structure, too large."""

    code = "malformed"


class TooLargeError(MalformedError):
    """A size limit was exceeded."""

    code = "too-large"
    status = 413


class InvalidStatementError(InputError):
    """A statement field is missing, unknown, of the wrong type or out of range."""

    code = "invalid-statement"
    status = 422

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class InvalidSignatureError(InputError):
    """The envelope signature does not verify."""

    code = "invalid-signature"
    status = 401


class UnknownKeyError(InputError):
    """The signing key is not known to the registry."""

    code = "unknown-key"
    status = 401


class RevokedKeyError(InputError):
    """The signing key was revoked before this statement."""

    code = "revoked-key"
    status = 403


class UnauthorizedSignerError(InputError):
    """The signer may not make this statement (wrong role or organization)."""

    code = "unauthorized-signer"
    status = 403


class WrongRegistryError(InputError):
    """The statement names another registry origin (cross-registry replay)."""

    code = "wrong-registry"
    status = 422


class StaleStatementError(InputError):
    """``signed_at`` lies outside the accepted window for live submissions."""

    code = "stale-statement"
    status = 422


class UnknownSubjectError(InputError):
    """The statement refers to an organization, Code or version that does not exist."""

    code = "unknown-subject"
    status = 404


class RuleError(InputError):
    """The statement breaks a registry rule given the current state."""

    code = "rule-violation"
    status = 409


class ConflictError(RuleError):
    """The statement conflicts with the current state (endorsing twice, ...)."""

    code = "conflict"


class DuplicateStatementError(ConflictError):
    """The same statement (the same payload bytes) is already in the log."""

    code = "duplicate-statement"

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


class OutOfOrderError(RuleError):
    """The statement was signed before the latest recorded statement about the same entity."""

    code = "out-of-order"


# --- lookups and published artefacts -------------------------------------------


class NotFoundError(RegistryError):
    """A requested record does not exist."""

    code = "not-found"
    status = 404


class VerificationError(RegistryError):
    """A published artefact (receipt, checkpoint, snapshot, bundle) failed a check."""

    code = "verification-failed"
    status = 422

    def __init__(self, message: str, step: str | None = None) -> None:
        super().__init__(f"{step}: {message}" if step else message)
        self.step = step


# --- the operator's side ---------------------------------------------------------


class ConfigurationError(RegistryError):
    """The data directory, keys or settings are missing or unsafe."""

    code = "configuration"


class StorageUnavailableError(RegistryError):
    """The event store could not be reached or stayed locked; try again later."""

    code = "storage-unavailable"
    status = 503


class LogHaltedError(RegistryError):
    """A stored log entry failed its checks: nothing after it is accepted or signed until an operator acts."""

    code = "log-halted"
    status = 503

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"log entry {index} failed its checks ({reason}); the log stops before it "
                         "until an operator acts (docs/SECURITY.md)")
        self.index = index
        self.reason = reason


class CatchUpError(RegistryError):
    """A catch-up made no progress after repeated tries: a stored position disagrees with the log."""

    code = "catch-up-stuck"
    status = 503
