"""Lists of config keys, each named for what it decides (as RecBole's ``utils/argument_list.py``).
One home, so that two lists meant to agree cannot drift apart."""

# the split, windows and evaluation, and where things go and how they are shown: the same for every row of a
# comparison, always, and for a teacher trained beside its student (``data_path`` too, taken as the user gave it)
SPLIT_AND_EVALUATION_KEYS = ("seed", "reproducibility", "MAX_ITEM_LIST_LENGTH", "eval_protocol", "paper_split",
                             "eval_args", "metrics", "topk", "metric_decimal_place", "eval_batch_size",
                             "checkpoint_dir", "gpu_id", "use_gpu", "show_progress", "state")
# training budget and early stopping: the same for every row unless overridden per row
BUDGET_KEYS = ("epochs", "stopping_step", "eval_step", "valid_metric", "valid_metric_bigger")
# what a teacher of another architecture takes from its student: the same split, evaluation and budget
TEACHER_TAKES_FROM_STUDENT = SPLIT_AND_EVALUATION_KEYS + BUDGET_KEYS
# keys a per-row override may not change (they would split the rows' data)
NOT_PER_ROW = SPLIT_AND_EVALUATION_KEYS + ("model", "dataset", "data_path")
# what the table and the provenance say each row was trained with (a distilled row: also its method's keys)
TRAINED_WITH = BUDGET_KEYS + ("train_batch_size", "learning_rate", "weight_decay", "loss_type", "seed",
                              "MAX_ITEM_LIST_LENGTH", "teacher_checkpoint")
# keys that name where things are or how they are shown, not what is computed: a row record holds without them
UNDECIDING_KEYS = ("teacher_checkpoint", "show_progress", "state", "resume_from", "checkpoint_dir",
                   "log_wandb", "wandb_project")
# where and how a run was placed (device, DDP process group): decided again when a checkpoint is loaded
PLACEMENT_KEYS = ("device", "local_rank", "single_spec", "nproc", "world_size", "ip", "port", "offset")
# RecBole keys whose files are pickles; loading one runs whatever code it holds
PICKLE_CACHE_KEYS = ("save_dataset", "dataset_save_path", "save_dataloaders", "dataloaders_save_path")
# run settings besides RecBole's argument lists: not the model's hyper-parameters (see checkpoint.py)
RUN_SETTING_KEYS = ("device", "local_rank", "single_spec", "MODEL_TYPE", "MODEL_INPUT_TYPE", "eval_type",
                    "data_path", "dataset", "valid_neg_sample_args", "test_neg_sample_args", "model")
