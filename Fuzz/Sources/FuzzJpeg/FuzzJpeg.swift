// libFuzzer target for FuzzedReader.jpeg (see FuzzEntries/FuzzDriver.swift).
import FuzzEntries

runFuzzer(.jpeg)
