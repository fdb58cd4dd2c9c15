"""Paper protocols: machine annotation of any image set (``protocol annotate``) and the compiled
56-class MS COCO (``protocol coco``), both writing a training manifest plus the measured noise."""

from ..annotation import read_class_map
from .annotate import AnnotateConfig, annotate_table, compile_annotated
from .coco import PAPER_SPLIT, CocoProtocolConfig, compile_coco, split_counts

__all__ = [
    "AnnotateConfig",
    "CocoProtocolConfig",
    "PAPER_SPLIT",
    "annotate_table",
    "compile_annotated",
    "compile_coco",
    "read_class_map",
    "split_counts",
]
