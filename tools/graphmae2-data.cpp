#include "datasets/dataset.h"
#include <iostream>
int main() { std::cout << "placeholder\n"; return 0; }
