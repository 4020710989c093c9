// libFuzzer target for FuzzedReader.onnx (see FuzzEntries/FuzzDriver.swift).
import FuzzEntries

runFuzzer(.onnx)
