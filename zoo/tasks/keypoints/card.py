"""The keypoint task's part of an export's model card (``zoo.export.card``): the keypoints, their mirror images
and the skeleton, whether it expects boxes, the per-keypoint validation table."""

from __future__ import annotations

from zoo.tasks.base import card_number


def card_sections(info, metrics: dict) -> dict:
    """``{"pipeline_tag", "what", "contract", "metrics", "limitations"}`` for ``info`` (a keypoint export's
    ``ExportInfo``) and the run's validation ``metrics`` ({} if unknown); lists of Markdown lines."""
    fields = info.fields
    names = list(fields.keypoint_names)
    what = ["## Keypoints", "", "| index | keypoint | its mirror image |", "|---|---|---|"]
    what += [f"| {i} | {name} | {names[fields.flip_index[i]]} |" for i, name in enumerate(names)]
    skeleton = ", ".join(f"{names[a]}-{names[b]}" for a, b in fields.skeleton) or "none"
    what += ["", f"Skeleton (the edges `predict` draws): {skeleton}."]
    boxes = fields.region == "box"
    contract = [
        "- Region: `box`: trained on each object's box enlarged 1.25x: give it boxes (the SavedModel's `boxes` "
        "signature, `predict --boxes`, or `zoo.export.load(folder).predict_boxes(image, boxes)`)."
        if boxes
        else "- Region: `image`: trained on whole pictures, one object per picture."
    ]
    table = []
    if metrics:
        ap = metrics.get("ap") or {}
        table = [
            f"- OKS AP {card_number(ap.get('ap'))} (AP50 {card_number(ap.get('ap50'))}), PCK@{metrics.get('pck_threshold', '?')} "
            f"{card_number(metrics.get('pck'))}, mean error {card_number(metrics.get('mean_pixel_error'), 2)} px "
            f"(decoding `{metrics.get('decode', '?')}`)",
            "",
            "| keypoint | PCK | mean error (px) |",
            "|---|---|---|",
        ]
        for name, row in (metrics.get("per_keypoint") or {}).items():
            table.append(f"| {name} | {card_number(row.get('pck'))} | {card_number(row.get('mean_pixel_error'), 2)} |")
    limits = ["Expects object boxes: it was trained on one object per box, not on whole scenes."] if boxes else []
    return {
        "pipeline_tag": "keypoint-detection",
        "what": what,
        "contract": contract,
        "metrics": table,
        "limitations": limits,
    }
