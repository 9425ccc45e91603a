"""The dry run's one change to a library (tools/dry_run.py puts this folder on PYTHONPATH).

The dry run's ILSVRC-2012 archives are format-exact copies, not the real files, so their MD5s are
not the ones torchvision checks them against (`torchvision.datasets.imagenet.ARCHIVE_META`). Every
process of the dry run gets the copies' MD5s (from the MD5SUMS that
`alexnet_lib.data.archives.write_archives` wrote) in that table instead: torchvision's check still
runs, against the copies, and so does everything past it.
"""

import os
from pathlib import Path

_sums = os.environ.get("ALEXNET_DRY_RUN_MD5SUMS")
if _sums:
    import torchvision.datasets.imagenet as _imagenet

    _md5 = {name.strip(): md5 for md5, name in (line.split(None, 1) for line in Path(_sums).read_text().splitlines())}
    for _key, (_file, _) in list(_imagenet.ARCHIVE_META.items()):
        _imagenet.ARCHIVE_META[_key] = (_file, _md5[_file])
