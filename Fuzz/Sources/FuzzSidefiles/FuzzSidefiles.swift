// libFuzzer target for FuzzedReader.sidefiles (see FuzzEntries/FuzzDriver.swift).
import FuzzEntries

runFuzzer(.sidefiles)
