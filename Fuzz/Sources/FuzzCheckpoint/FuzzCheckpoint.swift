// libFuzzer target for FuzzedReader.checkpoint (see FuzzEntries/FuzzDriver.swift).
import FuzzEntries

runFuzzer(.checkpoint)
