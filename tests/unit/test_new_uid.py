"""new_uid: the uid every create stamps, a version 4 UUID in the form str(uuid.uuid4()) has."""

from __future__ import annotations

import uuid

from controlplane.machinery import meta


def test_uids_are_random_version_4_uuids_in_canonical_text():
    uids = [meta.new_uid() for _ in range(2000)]
    assert len(set(uids)) == len(uids)
    for text in uids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower-case hex, 8-4-4-4-12
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # Every bit outside the fixed ones varies across the sample (none stuck at 0 or 1).
    ints = [uuid.UUID(t).int for t in uids]
    fixed = uuid.UUID(int=(0xF000 << 64) | (0xC000 << 48)).int  # version and variant bits
    varying = 0
    for a in ints:
        varying |= a ^ ints[0]
    assert varying | fixed == (1 << 128) - 1
