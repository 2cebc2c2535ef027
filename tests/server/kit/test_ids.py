"""Resource ids and event ids: their shapes are what clients and receivers parse."""

from __future__ import annotations

import re
import uuid

from mlgov.server.kit.ids import new_id, new_uuid


def test_new_uuid_is_a_random_rfc_4122_uuid_in_its_canonical_text() -> None:
    made = [new_uuid() for _ in range(2000)]
    assert len(set(made)) == len(made)
    for text in made:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text  # lower-case, dashed, as str(uuid.uuid4()) writes it
    # Every random bit does vary (none stuck at 0 or 1) across the sample.
    bits = [uuid.UUID(text).int for text in made]
    fixed = (0xF000 << 64) | (0xC000 << 48)
    assert all((any(b >> k & 1 for b in bits) and not all(b >> k & 1 for b in bits))
               for k in range(128) if not fixed >> k & 1)  # fmt: skip


def test_new_id_sorts_by_creation() -> None:
    made = [new_id("ah") for _ in range(50)]
    assert all(re.fullmatch(r"ah-[0-9a-f]{26}", text) for text in made)
    assert [text[:15] for text in made] == sorted(text[:15] for text in made)
