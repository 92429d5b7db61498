"""Content's one face: what routes, the CLI and other domains may call. The rules live
in the use-case modules behind it: `items` (create, change, publish, archive, list, who
is entitled), `uploads` (reading an upload after the access check), `downloads` (links,
their byte budget, the log), `delivery` (answering one download), `storage` and
`http_delivery`."""

from __future__ import annotations

from darvaza.content.delivery import Sending, deliver
from darvaza.content.downloads import (
    delete_ended_download_tokens,
    download_log,
    download_outcomes_between,
    issue_download_token,
    open_download,
    record_delivery,
    revoke_item_tokens,
)
from darvaza.content.errors import RangeRefused
from darvaza.content.exports import DOWNLOAD_HEADER, download_rows
from darvaza.content.http_delivery import content_disposition
from darvaza.content.items import (
    change_item,
    check_stored_file,
    clean_content_type,
    create_item,
    find_item,
    list_items,
    move_item,
    replace_file,
)
from darvaza.content.orphans import FileRecord, file_records
from darvaza.content.storage import LocalStorage, Storage, StorageError
from darvaza.content.uploads import UploadForm, receive_form

__all__ = [
    "DOWNLOAD_HEADER",
    "FileRecord",
    "LocalStorage",
    "RangeRefused",
    "Sending",
    "Storage",
    "StorageError",
    "UploadForm",
    "change_item",
    "check_stored_file",
    "clean_content_type",
    "content_disposition",
    "create_item",
    "delete_ended_download_tokens",
    "deliver",
    "download_log",
    "download_outcomes_between",
    "download_rows",
    "file_records",
    "find_item",
    "issue_download_token",
    "list_items",
    "move_item",
    "open_download",
    "receive_form",
    "record_delivery",
    "replace_file",
    "revoke_item_tokens",
]
