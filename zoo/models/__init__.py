"""The model core: backbones (``backbones``, ``encoder``), decoders and their builders (``decoders/``, the table of
them in ``registry``), custom layers (``layers``), freezing by stage (``freezing``), the ImageNet classifier as
class maps (``class_maps``) and the pretrained files (``weights``, ``pretrained``). It knows no task, run or
recipe and uses Keras alone, so it runs on any Keras backend. Importing this package loads nothing."""
