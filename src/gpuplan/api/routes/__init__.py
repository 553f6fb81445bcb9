"""One router per resource: catalog (models, gpus, messages), compute (size, estimate, validate), plans."""
