"""Paper Section 3.1, training: supervised fine-tuning on STAR-1 (``sft``), its accelerate/DeepSpeed
job (``run_sft``) and the miniature's real base model, SmolLM2-135M-Instruct (``smollm``)."""
