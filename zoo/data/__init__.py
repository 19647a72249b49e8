"""Task-free data: ``--dataset`` parsed (``spec``), image files read and converted (``images``, ``channels``),
folder conventions and seeded splits (``layout``), TFDS builders (``tfds``), the ``check`` report (``checks``),
antialiased resizing in graphs (``resize``), test-time augmentation views (``tta``), tiles of large pictures
(``tiling``) and the synthetic sets' drawing helpers (``drawing``, ``samples``). What differs per task (masks,
labels, keypoints, their pipelines) lives in ``zoo.tasks``."""
