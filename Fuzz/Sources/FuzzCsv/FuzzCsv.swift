// libFuzzer target for FuzzedReader.csv (see FuzzEntries/FuzzDriver.swift).
import FuzzEntries

runFuzzer(.csv)
