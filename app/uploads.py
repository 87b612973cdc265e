"""Reading a `multipart/form-data` body (a file upload) with the standard library, within a size bound.

Starlette parses multipart forms only with the python-multipart package; the
admin pages need one small upload (a rates CSV), so the body is read here,
bounded, and handed to the stdlib MIME parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.parser import BytesParser

from starlette.exceptions import HTTPException
from starlette.requests import Request

MAX_BODY = 2 * 1024 * 1024
MAX_PARTS = 50


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "multipart/form-data"


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, "body too large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, "body too large")
    return body


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Upload]]:
    """The text fields and the files of a multipart body; ValueError when it is not one."""
    if "boundary=" not in content_type.lower():
        raise ValueError("no boundary")
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise ValueError("malformed multipart body")
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for count, part in enumerate(message.iter_parts()):
        if count >= MAX_PARTS:
            raise ValueError("too many parts")
        if part.get_content_disposition() != "form-data":
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            continue
        content = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = Upload(filename=filename[:255], content=content)
        else:
            fields[name] = content.decode("utf-8")
    return fields, files


async def read_multipart(request: Request, limit: int = MAX_BODY) -> tuple[dict[str, str], dict[str, Upload]]:
    body = await read_body(request, limit)
    try:
        return parse_multipart(request.headers.get("content-type", ""), body)
    except (ValueError, UnicodeDecodeError, LookupError):
        raise HTTPException(400, "malformed form body") from None
