"""BLOBS: moving blob bytes, for every level above: hash once, copy in the kernel, check while streaming.

:mod:`.engine` reads byte ranges of files and copies them (``copy_file_range``)
on every core, checking a digest when one is expected; :mod:`.sinks` places
blobs in an archive or a layout folder; :mod:`.cache` remembers digests of
unchanged files. The builder, the store, the registry client and the verbs all
use them; this package imports none of them (only ``oci``, ``atomic``,
``progress`` and ``errors``).
"""
