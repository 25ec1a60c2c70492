# data stage rules (filled in by the data work)
