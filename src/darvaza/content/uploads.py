"""Reading a multipart upload as it arrives: the file part goes straight into storage (one
write, no spooled copy), the other fields are small and kept in memory.

The routes call this only after the caller's access was checked, so nobody who may not
upload makes Darvaza read, let alone store, a single byte of a body.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from darvaza.content.errors import BrokenUpload, UnsupportedUpload
from darvaza.content.items import clean_filename, store_upload
from darvaza.content.storage import Storage, StoredFile
from darvaza.errors import InvalidInput, validation_details

FILE_FIELD = "file"
FormT = TypeVar("FormT", bound=BaseModel)
MAX_FIELDS = 20
MAX_FIELD_BYTES = 16 * 1024


@dataclass
class ReceivedUpload:
    """What a multipart body held: its small fields, and the file as stored (or None)."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    content_type: str | None = None
    stored: StoredFile | None = None


def boundary_of(content_type: str | None) -> bytes:
    kind, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UnsupportedUpload("Send the file as multipart/form-data.")
    return boundary


class _Reader:
    """Callbacks for python-multipart's push parser that sort parts into fields and the
    file, and hold the file's bytes until storage pulls them."""

    def __init__(self) -> None:
        self.upload = ReceivedUpload()
        self.headers: dict[bytes, bytes] = {}
        self.header_field = b""
        self.header_value = b""
        self.part: str | None = None  # the field name of the part being read
        self.in_file = False
        self.file_started = False
        self.file_done = False
        self.pending: deque[bytes] = deque()
        self.value = bytearray()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field_data,
            "on_header_value": self.header_value_data,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self.headers, self.part, self.value = {}, None, bytearray()

    def header_field_data(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def header_value_data(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def headers_finished(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self.part = name
        if name != FILE_FIELD:
            if len(self.upload.fields) >= MAX_FIELDS:
                raise InvalidInput(f"At most {MAX_FIELDS} form fields.", code="too_many_fields")
            return
        if self.file_started:
            raise InvalidInput("Send one file at a time.", code="several_files")
        raw_name = params.get(b"filename")
        self.upload.filename = clean_filename(
            raw_name.decode("utf-8", "replace") if raw_name is not None else None
        )
        content_type = self.headers.get(b"content-type")
        self.upload.content_type = content_type.decode("latin-1") if content_type else None
        self.in_file = self.file_started = True

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.pending.append(bytes(data[start:end]))
            return
        self.value += data[start:end]
        if len(self.value) > MAX_FIELD_BYTES:
            raise InvalidInput(
                f"The form field {self.part!r} is longer than {MAX_FIELD_BYTES} bytes.",
                code="field_too_long",
            )

    def part_end(self) -> None:
        if self.in_file:
            self.in_file, self.file_done = False, True
            return
        if self.part:
            try:
                self.upload.fields[self.part] = self.value.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(
                    f"The form field {self.part!r} is not UTF-8.", code="invalid_field"
                ) from None


def receive_upload(
    body: Iterable[bytes],
    content_type: str | None,
    *,
    storage: Storage,
    max_bytes: int,
) -> ReceivedUpload:
    """Parse a multipart body from `body`, writing the file part into `storage` as it
    arrives. The file name is checked before a byte is stored; if the
    body turns out broken after the file was stored, the file is deleted again."""
    reader = _Reader()
    parser = MultipartParser(boundary_of(content_type), reader.callbacks())  # type: ignore[arg-type]
    chunks = iter(body)

    def file_bytes() -> Iterator[bytes]:
        while True:
            while reader.pending:
                yield reader.pending.popleft()
            if reader.file_done:
                return
            chunk = next(chunks, None)
            if chunk is None:
                raise BrokenUpload("The upload ended in the middle of the file.")
            parser.write(chunk)

    try:
        for chunk in chunks:
            parser.write(chunk)
            if reader.file_started:
                reader.upload.stored = store_upload(
                    storage, file_bytes(), max_bytes=max_bytes, declared_size=None
                )
                break
        for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except BaseException as exc:
        if reader.upload.stored is not None:
            storage.delete(reader.upload.stored.key)
        if isinstance(exc, MultipartParseError):
            raise BrokenUpload("The multipart body cannot be read.") from None
        raise
    return reader.upload


@dataclass(frozen=True)
class UploadForm(Generic[FormT]):
    form: FormT
    filename: str
    content_type: str | None
    stored: StoredFile


def receive_form(
    body: Iterable[bytes],
    content_type: str | None,
    form: type[FormT],
    *,
    storage: Storage,
    max_bytes: int,
    check_file: Callable[[StoredFile, FormT], None],
) -> UploadForm[FormT]:
    """Receive a multipart upload and read its fields into `form`; then `check_file` may
    still refuse the stored file. Whatever is refused leaves nothing in storage."""
    received = receive_upload(body, content_type, storage=storage, max_bytes=max_bytes)
    try:
        if received.stored is None or received.filename is None:
            raise InvalidInput(
                "The form has no file.",
                details=[{"field": f"body.{FILE_FIELD}", "message": "Field required",
                          "type": "missing"}],
            )  # fmt: skip
        try:
            values = form.model_validate(received.fields)
        except ValidationError as exc:
            raise InvalidInput(
                "The input is invalid.", details=validation_details(exc.errors(), prefix=("body",))
            ) from None
        check_file(received.stored, values)
    except BaseException:
        if received.stored is not None:
            storage.delete(received.stored.key)
        raise
    return UploadForm(values, received.filename, received.content_type, received.stored)
