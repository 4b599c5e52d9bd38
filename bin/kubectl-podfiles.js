#!/usr/bin/env node
// `kubectl podfiles …`: kubectl runs the first kubectl-podfiles executable on its PATH with the
// words after "podfiles", which is what the podfiles binary takes.
"use strict";
require("./podfiles.js");
