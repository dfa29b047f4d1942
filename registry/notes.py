"""Old import path of the C2SP formats, kept only for two modules being rewritten elsewhere.

``registry.notes`` held five C2SP specs in one module; each now has its own:
``signednote`` (c2sp.org/signed-note), ``checkpoint`` (tlog-checkpoint and
tlog-cosignature), ``witness`` (tlog-witness) and ``receipts`` (tlog-proof),
with their errors in ``registry.errors``. This module defines nothing. It
re-exports the names that ``scripts/cli.py`` and ``registry/audit.py`` call as
``notes.<name>``, because both are being rewritten in other branches and are
edited here only in their import lines. New code imports from the modules
above; delete this file once those two no longer import it.
"""

from __future__ import annotations

from registry.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from registry.errors import NoteError
from registry.receipts import verify_receipt
from registry.signednote import NoteVerifier, parse_verifier_key

__all__ = [
    "Checkpoint", "NoteError", "NoteVerifier", "SignedCheckpoint", "open_checkpoint", "parse_verifier_key",
    "verify_receipt",
]
