"""One file per dataset, each registering its reader with what it reads (registry.py). A data
config's `reader._target_` names the reader; its module is imported, and so registered, when
the checks or the job first ask for it. Modules here import torch only inside their readers."""
