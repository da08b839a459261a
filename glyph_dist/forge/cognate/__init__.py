"""Cognate: tiny recursive reasoning models (TRM) with a Titans memory (MAG) and ACT halting.

What a merge or another job needs, by module:

    checkpoint.build_model(config, seed)      a fresh model from a CognateConfig (or its dict)
    checkpoint.save_pretrained(model, tokenizer, dir, specialisation)
    checkpoint.load_pretrained(dir, device)   (model, tokenizer) from a model or checkpoint directory
    checkpoint.read_meta(dir)                 {"model": config fields, "specialisation", "size"}
    model.Cognate.state_dict / load_state_dict  same names and shapes for models of one config
    data.load_texts / build_streams / gsm8k_problems   held-out token streams and GSM8K problems
    evaluate.evaluate(model, tokenizer, heldout, problems, EvalSettings(...), device)
        perplexity (overall, per source), gsm8k_accuracy, tokens_per_s, halting_steps, memory_share
    diversity.diversity({name: metrics})      spread of halting steps, memory share and tokens/s
"""
