"""Persistent volumes on the node.

    local.py      the built-in provisioner's node half: volume directories under --volume-dir,
                  made and deleted as NodeVolumes asks, sizes recorded and enforced (loopfs.py)
    loopfs.py     an ext4 image per volume, loop-mounted on its directory: the size limit
    hollow.py     the same, simulated, for hollow nodes
    claims.py     the claims of the node's pods: checked before a pod starts (FailedMount),
                  their directories handed to the runtime, fsGroup applied (ownership.py)
    subpath.py    subPath / subPathExpr inside a volume, never outside it

Nothing here deletes a volume's data but `local.LocalVolumes.delete`, and only for a DELETE the
control plane sends when the volume's reclaim policy is Delete and no claim uses it.
"""
