"""Deployment: TF Serving exports and TFLite (`export`), inference benchmarks
(`latency`), the serving client side (`client`) and the committed models by name
(`pretrained`)."""
