# lme4 with optimizer = "bobyqa" (minqa's BOBYQA, tight tolerances) for the two HSB models of Part III
# whose default (nloptwrap) fits agree with the vignette's printout but stop a little short of the
# optimum: the random-coefficients and the intercepts-and-slopes-as-outcomes models (chs. 8 and 9).
# Writes tests/reference/part3_lme4_bobyqa.json; run from the repository root:
#   Rscript tests/r/part3_bobyqa.R
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
source("tests/r/common.R")
hsb <- read_hsb()

summarise <- function(m) {
  vc <- as.data.frame(VarCorr(m))
  list(formula = deparse(formula(m)), reml_criterion = REMLcrit(m),
       fixef = as.list(fixef(m)), se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       t = as.list(coef(summary(m))[, "t value"]),
       theta = unname(getME(m, "theta")), theta_names = names(getME(m, "theta")),
       var = setNames(as.list(vc$vcov[is.na(vc$var2)]), ifelse(is.na(vc$var1[is.na(vc$var2)]), "Residual",
                                                              vc$var1[is.na(vc$var2)])),
       sd = setNames(as.list(vc$sdcor[is.na(vc$var2)]), ifelse(is.na(vc$var1[is.na(vc$var2)]), "Residual",
                                                              vc$var1[is.na(vc$var2)])),
       corr = vc$sdcor[!is.na(vc$var2) & vc$grp != "Residual"],
       optimizer = m@optinfo$optimizer, singular = isSingular(m))
}

ctrl <- lmerControl(optimizer = "bobyqa")
fits <- list(
  hsb_rc_reml = lmer(mathach ~ cses + (cses | school), hsb),
  hsb_rc_reml_bobyqa = lmer(mathach ~ cses + (cses | school), hsb, control = ctrl),
  hsb_isa_reml = lmer(mathach ~ cses*mean_ses + cses*sector + (cses | school), hsb),
  hsb_isa_reml_bobyqa = lmer(mathach ~ cses*mean_ses + cses*sector + (cses | school), hsb, control = ctrl))
out <- list(meta = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                        date = as.character(Sys.Date()),
                        note = paste("default = lmerControl() (nloptwrap); _bobyqa = lmerControl(optimizer = 'bobyqa');",
                                     "var/sd name the random effects as lme4 prints them, plus Residual")),
            models = lapply(fits, summarise))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/part3_lme4_bobyqa.json")
