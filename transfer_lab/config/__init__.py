"""What a valid config is: value rules, one sentence per problem, and where files live.
Runs in the front door before any folder is made, and again at the start of each job."""
