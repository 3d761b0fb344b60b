# Shared by the reference scripts in tests/r/ (run from the repository root).

# The full HSB file with the factor levels of hlm_course/data.py (the first
# level is the reference), the school SAMPLE mean of ses (seed 000's
# mean.ses) and group-centred ses.
read_hsb <- function(path = "data/hsb.csv") {
  hsb <- read.csv(path, stringsAsFactors = FALSE)
  hsb$minority <- factor(hsb$minority, levels = c("No", "Yes"))
  hsb$sex      <- factor(hsb$sex, levels = c("Female", "Male"))
  hsb$sector   <- factor(hsb$sector, levels = c("Public", "Catholic"))
  hsb$mean_ses <- ave(hsb$ses, hsb$school, FUN = mean)
  hsb$cses     <- hsb$ses - hsb$mean_ses
  stopifnot(nrow(hsb) == 7185, length(unique(hsb$school)) == 160)
  hsb
}
