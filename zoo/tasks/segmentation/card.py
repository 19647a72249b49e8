"""The segmentation task's part of an export's model card (``zoo.export.card``): the classes and their
colours, how a picture meets the network, the per-class validation table."""

from __future__ import annotations

from zoo.tasks.base import card_number, palette


def card_sections(info, metrics: dict) -> dict:
    """``{"pipeline_tag", "what", "contract", "metrics", "limitations"}`` for ``info`` (a segmentation export's
    ``ExportInfo``) and the run's validation ``metrics`` ({} if unknown); lists of Markdown lines."""
    fields = info.fields
    colours = fields.class_colours or [tuple(int(v) for v in c) for c in palette(len(fields.classes))]
    where = "the training masks' colours (`--palette`)" if fields.class_colours else "the colours `predict` paints"
    what = [
        "## Classes",
        "",
        f"Index, name and colour ({where}):",
        "",
        "| index | class | colour (RGB) |",
        "|---|---|---|",
    ]
    for index, (name, colour) in enumerate(zip(fields.classes, colours)):
        what.append(f"| {index} | {name} | {tuple(colour)} #{colour[0]:02x}{colour[1]:02x}{colour[2]:02x} |")
    contract = [
        f"- Scale: `{fields.scale}` ("
        + (
            "pictures are resized to the training size and the answer back"
            if fields.scale == "resize"
            else "pictures are met at their own pixel scale in tiles: the SavedModel's `native` signature, or "
            "`predict --scale native`"
        )
        + ")."
    ]
    table = []
    if metrics:
        table = [
            f"- mean IoU {card_number(metrics.get('mean_iou'))}, pixel accuracy {card_number(metrics.get('pixel_accuracy'))}",
            "",
            "| class | IoU | precision | recall |",
            "|---|---|---|---|",
        ]
        for name, iou in (metrics.get("per_class_iou") or {}).items():
            precision = (metrics.get("per_class_precision") or {}).get(name)
            recall = (metrics.get("per_class_recall") or {}).get(name)
            table.append(f"| {name} | {card_number(iou)} | {card_number(precision)} | {card_number(recall)} |")
    return {
        "pipeline_tag": "image-segmentation",
        "what": what,
        "contract": contract,
        "metrics": table,
        "limitations": [],
    }
