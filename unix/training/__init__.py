"""Three-stage UniX training (paper section 3.4) and the Table-5 ablation (section 5.2).

recipes     what each stage/variant trains, with every hyper-parameter from config `training`
trainer     the one training loop (accelerate: CPU, DDP, FSDP; AdamW, warm-up + cosine, clipping,
            accumulation, EMA, atomic checkpoints and exact resume)
data        datasets over the split tables and prepared image shards, the resumable sampler
checkpoint  atomic checkpoint directories (step-XXXXXX.tmp -> step-XXXXXX + COMPLETE)
schedule    warm-up + cosine learning rate; ema: EMA of the generation branch
plots       log.csv, loss.png, summary.json of each run
paths       where each run reads and writes; launch: one process or `accelerate launch` over the job's GPUs
run         entry point of one run (python -m unix.training.run SPEC.json)
"""
