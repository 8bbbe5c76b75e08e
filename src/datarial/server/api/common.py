"""Shared helpers of the API routers: campaign lookup, uploads, JSON of results, file responses."""

from __future__ import annotations

import dataclasses
import io
import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from fastapi import HTTPException, Request, UploadFile, status
from fastapi.responses import Response

from datarial.campaign import Campaign
from datarial.store import Store

UPLOAD_LIMIT_BYTES = 20 * 1024 * 1024


def store_of(request: Request) -> Store:
    return request.app.state.store


def campaign_of(request: Request, name: str) -> Campaign:
    return Campaign.open(store_of(request), name)


async def read_upload(file: UploadFile, limit: int | None = None) -> bytes:
    """The uploaded bytes; 413 when over the limit (read no further than the limit)."""
    limit = limit or UPLOAD_LIMIT_BYTES
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"file '{file.filename}': over the upload limit of {limit // (1024 * 1024)} MiB")
    if not data:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"file '{file.filename}': the file is empty")
    return data


def plain(obj: Any) -> Any:
    """JSON-ready form of results: dataclasses, numpy values and arrays, NaN → null, times in ISO 8601."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, np.generic):
        return plain(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, datetime):
        return obj.isoformat()
    return obj


def csv_response(frame: pd.DataFrame, filename: str) -> Response:
    return Response(frame.to_csv(index=False), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def xlsx_response(frame: pd.DataFrame, filename: str) -> Response:
    buf = io.BytesIO()
    frame.to_excel(buf, index=False)
    return Response(buf.getvalue(),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def figure_response(fig, fmt: str, filename: str) -> Response:
    """A matplotlib figure as PNG or SVG."""
    from datarial.viz.maps import figure_bytes

    media = "image/png" if fmt == "png" else "image/svg+xml"
    return Response(figure_bytes(fig, fmt), media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{filename}.{fmt}"'})
