# evaluation stage rules
