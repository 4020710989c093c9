import ModelFool
