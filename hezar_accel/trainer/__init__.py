"""The training loop: ``TrainerConfig`` + ``Trainer`` on 🤗 Accelerate."""

from .config import TrainerConfig
from .state import TrainerState
from .steps import StepPlan, plan_steps
from .trainer import Trainer

__all__ = ["Trainer", "TrainerConfig", "TrainerState", "StepPlan", "plan_steps"]
