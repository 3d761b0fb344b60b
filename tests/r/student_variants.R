# lme4 on sleepstudy-style variants a student might try (issue 14).
# Writes tests/reference/sleepstudy.csv (the data, so the tests need no R) and
# tests/reference/student_variants_lme4.json.  Run from the repository root:
#   Rscript tests/r/student_variants.R
# Each model is fitted with lme4's default control and with optimizer = "bobyqa";
# the lower REML criterion is the optimum the Python engine must reach (or beat).
suppressPackageStartupMessages({library(lme4); library(jsonlite)})

data(sleepstudy, package = "lme4")
ss <- sleepstudy
ss$Subject <- as.character(ss$Subject)
write.csv(ss, "tests/reference/sleepstudy.csv", row.names = FALSE)
ss <- read.csv("tests/reference/sleepstudy.csv", stringsAsFactors = FALSE)  # what Python reads
ss$Subject <- factor(ss$Subject)
ss$Seconds <- ss$Days * 86400
ss$DaysShift <- ss$Days + 10000
ss$ReactionShift <- ss$Reaction + 1e7
ss$Dbool <- ss$Days >= 5

specs <- list(
  base          = "Reaction ~ Days + (Days | Subject)",
  seconds       = "Reaction ~ Seconds + (Seconds | Subject)",
  days_shift    = "Reaction ~ DaysShift + (DaysShift | Subject)",
  reaction_shift = "ReactionShift ~ Days + (Days | Subject)",
  squared       = "Reaction ~ Days + I(Days^2) + (Days | Subject)",
  scaled        = "Reaction ~ scale(Days) + (scale(Days) | Subject)",
  poly2         = "Reaction ~ poly(Days, 2) + (Days | Subject)",
  uncorrelated  = "Reaction ~ Days + (Days || Subject)",
  log_response  = "log(Reaction) ~ Days + (Days | Subject)",
  logical       = "Reaction ~ Dbool + (1 | Subject)",
  intercept     = "Reaction ~ Days + (1 | Subject)"
)

fit_one <- function(formula, reml, optimizer) {
  ctrl <- if (optimizer == "default") lmerControl() else lmerControl(optimizer = optimizer)
  msgs <- character(0)
  m <- withCallingHandlers(lmer(as.formula(formula), ss, REML = reml, control = ctrl),
                           warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") },
                           message = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleMessage") })
  vc <- as.data.frame(VarCorr(m))
  list(formula = formula, reml = reml, optimizer = optimizer,
       criterion = if (reml) unname(REMLcrit(m)) else unname(deviance(m)),
       ml_deviance = unname(deviance(refitML(m))),
       fixef = as.list(fixef(m)), se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       theta = unname(getME(m, "theta")), sigma = sigma(m),
       varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov, sdcor = vc$sdcor),
       singular = isSingular(m), messages = msgs,
       nobs = nobs(m), npar = attr(logLik(m), "df"))
}

out <- list()
for (name in names(specs)) {
  for (reml in c(TRUE, FALSE)) {
    key <- paste0(name, if (reml) "_reml" else "_ml")
    d <- fit_one(specs[[name]], reml, "default")
    b <- fit_one(specs[[name]], reml, "bobyqa")
    out[[key]] <- list(default = d, bobyqa = b, best = if (b$criterion < d$criterion - 1e-6) "bobyqa" else "default")
  }
}
meta <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
             Matrix = as.character(packageVersion("Matrix")), date = as.character(Sys.Date()),
             data = "lme4::sleepstudy, written to tests/reference/sleepstudy.csv")
writeLines(toJSON(list(meta = meta, models = out), auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/student_variants_lme4.json")
cat("wrote tests/reference/student_variants_lme4.json\n")
