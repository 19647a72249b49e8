"""Data: sources (synthetic, TFDS, folders), tf.data pipelines and augmentation."""
