"""The tender protocol (spec 004): 14 signed JSON interfaces between a trading platform and institutions."""
