"""The package a data subject downloads after an access or portability request.

Other packages import these names from here; modules inside import each other directly.
"""

from dsar.export.links import DOWNLOAD_GONE, download_url, issue_download, resolve_download
from dsar.export.package import build_package, safe_filename
from dsar.export.readable import readable_categories
from dsar.export.records import ExportedRecord, PackageFile, SourceResult
from dsar.export.report import render_report

__all__ = [
    "DOWNLOAD_GONE",
    "ExportedRecord",
    "PackageFile",
    "SourceResult",
    "build_package",
    "download_url",
    "issue_download",
    "readable_categories",
    "render_report",
    "resolve_download",
    "safe_filename",
]
