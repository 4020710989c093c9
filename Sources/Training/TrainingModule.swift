/// Training: optimizers, loops and checkpoints (see the files of this folder).
import ModelFool
