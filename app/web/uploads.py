"""Reading a `multipart/form-data` body (a file upload) as it streams in, within bounds.

Only the pages that take a file accept multipart (every other form is
URL-encoded, app/providers/signatures.py). The body is fed to Starlette's streaming
parser (python-multipart) chunk by chunk, so the limits hold while it is read:
a body over the size bound stops at the chunk that crosses it, and one with
too many parts stops at the first part too many, never parsed to the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from app.core.numbers import ascii_int

MAX_BODY = 2 * 1024 * 1024
MAX_PARTS = 50  # an upload form has a handful of fields and one file
MAX_FILES = 1


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes


class TooManyParts(HTTPException):
    def __init__(self) -> None:
        super().__init__(400, "too many form fields")


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "multipart/form-data"


async def bounded_stream(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body chunk by chunk; 413 as soon as it is (or says it will be) over `limit`."""
    declared = request.headers.get("content-length")
    if (ascii_int(declared) or 0) > limit:
        raise HTTPException(413, "body too large")
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise HTTPException(413, "body too large")
        yield chunk


async def read_multipart(request: Request, limit: int = MAX_BODY) -> tuple[dict[str, str], dict[str, Upload]]:
    """The text fields and the files of a multipart body: 413 over `limit`, 400 when malformed or too many parts."""
    parser = MultiPartParser(request.headers, bounded_stream(request, limit), max_files=MAX_FILES,
                             max_fields=MAX_PARTS, max_part_size=limit)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        if "Too many" in exc.message:
            raise TooManyParts() from None
        raise HTTPException(400, "malformed form body") from None
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                files[name] = Upload(filename=(value.filename or "")[:255], content=await value.read())
            else:
                fields[name] = value
    finally:
        await form.close()
    return fields, files
