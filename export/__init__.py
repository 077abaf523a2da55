"""cgan.export: turn trained generators into self-contained, verified ONNX files."""
