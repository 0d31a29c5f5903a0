"""Models on a pretrained encoder: fine-tuned transformer, fast mode, multi-label tags, attribute extractor, ONNX."""
