"""Training jobs on Ray Train: supervised fine-tuning with DeepSpeed ZeRO (`job.train_sft`)."""
