"""The ``--loss`` choices, named without Keras (``python -m recipes.segment --help`` lists them; the losses
themselves are ``zoo.tasks.segmentation.losses``)."""

LOSSES = ("ce", "dice", "focal", "ce+dice", "ohem", "lovasz", "ce+lovasz")
