// libFuzzer target for FuzzedReader.torch (see FuzzEntries/FuzzDriver.swift).
import FuzzEntries

runFuzzer(.torch)
