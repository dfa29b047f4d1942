"""The registry's error hierarchy, grouped by who is at fault.

Every error the registry raises on purpose is one of these classes, and every
one is defined here. Each carries a short machine-readable ``code`` (used as
the problem type on the web and in ``--json`` output) and a one-line human
message. A refinement that means the same to a client keeps its parent's code
(a bad base64 field is ``malformed`` like any other).

What it does not do: decide HTTP statuses (``web.problems`` maps classes to
them, in one table) or exit codes (the command line). Plain ``ValueError`` is
kept for a caller's programming mistakes, such as a misconfigured verifier or a
negative tree size, as Python itself does: those are bugs, not refusals.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base class of every error the registry raises on purpose."""

    code = "registry-error"

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


class MalformedError(InputError):
    """Not parseable: bad JSON, bad encoding, wrong structure, too large."""

    code = "malformed"


class TooLargeError(MalformedError):
    """A size limit was exceeded."""

    code = "too-large"


class Base64Error(MalformedError):
    """Text is not standard padded base64 (RFC 4648), with no whitespace or other characters."""


class NonCanonicalBase64Error(Base64Error):
    """Base64 that decodes, but is not the one spelling the encoder gives (unused low bits set)."""


class TimeFormatError(MalformedError):
    """A time is not the registry's ``YYYY-MM-DDTHH:MM:SSZ`` form, or names no real moment.

    ``reason`` says which check failed, so that a caller can word it in its own
    terms: ``form``, ``year`` (outside the caller's range), ``date`` (no such
    moment) or ``canonical`` (another spelling of a real moment).
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class InvalidStatementError(InputError):
    """A statement field is missing, unknown, of the wrong type or out of range."""

    code = "invalid-statement"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class InvalidRecordFileError(InputError):
    """An entry of a record file (``registry load``) is not exactly right; ``entry`` names it."""

    code = "invalid-record-file"

    def __init__(self, message: str, entry: str) -> None:
        super().__init__(f"{entry}: {message}")
        self.entry = entry


class InvalidSignatureError(InputError):
    """The envelope signature does not verify."""

    code = "invalid-signature"


class UnknownKeyError(InputError):
    """The signing key is not known to the registry."""

    code = "unknown-key"


class RevokedKeyError(InputError):
    """The signing key was revoked before this statement."""

    code = "revoked-key"


class UnauthorizedSignerError(InputError):
    """The signer may not make this statement (wrong role or organization)."""

    code = "unauthorized-signer"


class WrongRegistryError(InputError):
    """The statement names another registry origin (cross-registry replay)."""

    code = "wrong-registry"


class StaleStatementError(InputError):
    """``signed_at`` lies outside the accepted window for live submissions."""

    code = "stale-statement"


class UnknownSubjectError(InputError):
    """The statement refers to an organization, Code or version that does not exist."""

    code = "unknown-subject"


class RuleError(InputError):
    """The statement breaks a registry rule given the current state."""

    code = "rule-violation"


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


class NotYetCoveredError(NotFoundError):
    """The entry is in the log, but no published checkpoint covers it yet: ask again in a moment."""

    code = "not-yet-covered"


class VerificationError(RegistryError):
    """A published artefact (receipt, checkpoint, snapshot, bundle) failed a check."""

    code = "verification-failed"

    def __init__(self, message: str, step: str | None = None) -> None:
        super().__init__(f"{step}: {message}" if step else message)
        self.step = step


class DocumentMismatchError(VerificationError):
    """A registry served bytes under an archived document's name that do not hash to it.

    ``served`` keeps those bytes: a mirror saves them as the alert's evidence.
    """

    def __init__(self, message: str, served: bytes) -> None:
        super().__init__(message, "evidence")
        self.served = served


class FetchError(RegistryError):
    """A document could not be fetched from another site (a key-proof file): refused, unreachable, too slow or large."""

    code = "fetch-failed"


# --- a remote registry's answers ---------------------------------------------------


class RemoteError(RegistryError):
    """A remote registry refused a request, could not answer it, or could not be reached.

    ``code`` is the registry's own problem code (``conflict``, ``rate-limited``, ...) when it
    answered one, else ``unreachable``; it is set per error, so this class adds no code of its own
    to the table of docs/FORMATS.md section 13. ``refused`` is True for a 4xx answer (the request's
    fault); else the registry was unreachable or failed (its operator's).
    """

    def __init__(self, code: str, message: str, *, refused: bool) -> None:
        super().__init__(message)
        self.code = code
        self.refused = refused


# --- formats: bytes a pure codec refuses ------------------------------------------
# The codecs (canonical JSON, signed notes, proofs, tiles) cannot know whose bytes they were
# given. A caller that parses a submitter's or a client's bytes turns these into an InputError or
# a VerificationError naming the field or step; one that reaches the web untranslated is the
# server's own data failing, a server fault.


class CanonicalError(RegistryError):
    """The value or bytes are not canonical JSON as the registry defines it."""

    code = "non-canonical-json"


class NoteError(RegistryError):
    """A signed note, key, checkpoint, witness request or receipt is malformed."""

    code = "malformed-note"


class NoteVerificationError(NoteError):
    """A note's signature, origin or witness quorum did not verify."""

    code = "note-verification-failed"


class ReceiptError(NoteError):
    """A receipt was rejected; step is parse, checkpoint, witness, leaf or inclusion."""

    code = "receipt-rejected"

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.reason = message  # without the step, for a caller that names the step itself


class ProofError(RegistryError):
    """An inclusion or consistency proof does not verify (or its inputs are malformed)."""

    code = "proof-failed"


class TilePathError(RegistryError):
    """A tile path is not in the canonical C2SP tlog-tiles form."""

    code = "malformed-tile-path"


class TileDataError(RegistryError):
    """Served tile or entry-bundle bytes are malformed."""

    code = "malformed-tile-data"


# --- the operator's side ---------------------------------------------------------


class ConfigurationError(RegistryError):
    """The data directory, keys or settings are missing or unsafe."""

    code = "configuration"


class PublishError(RegistryError):
    """``registry publish``: the application did not serve a resource the publisher must write."""

    code = "publish-failed"


class StorageUnavailableError(RegistryError):
    """The event store could not be reached or stayed locked; try again later."""

    code = "storage-unavailable"


class LogHaltedError(RegistryError):
    """A stored log entry failed its checks: nothing after it is accepted or signed until an operator acts."""

    code = "log-halted"

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"log entry {index} failed its checks ({reason}); the log stops before it "
                         "until an operator acts (docs/SECURITY.md)")
        self.index = index
        self.reason = reason


class ReadOnlyMirrorError(RegistryError):
    """A statement was submitted to a mirror: it records only what the registry it follows recorded."""

    code = "read-only-mirror"


class CatchUpError(RegistryError):
    """A catch-up made no progress after repeated tries: a stored position disagrees with the log."""

    code = "catch-up-stuck"


class LogCorruptionError(RegistryError):
    """The stored log disagrees with itself or with the event store (a leaf or a hash out of place)."""

    code = "log-corrupted"


class InconsistentLogError(RegistryError):
    """The stored tree no longer contains a published checkpoint: refuse to sign."""

    code = "inconsistent-log"
